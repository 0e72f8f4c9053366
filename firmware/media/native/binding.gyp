# The media engine addon: the plain-C core (src/) and the thin N-API binding (binding/), built
# by node-gyp into build/Release/confbox_engine.node. `node build.mjs native` runs it.
{
  "targets": [
    {
      "target_name": "confbox_engine",
      "sources": [
        "binding/engine_napi.c",
        "binding/errno_name.c",
        "binding/gpio.c",
        "binding/memory.c",
        "binding/notify.c",
        "src/dtmf_detect.c",
        "src/echo_cancel.c",
        "src/engine.c",
        "src/engine_media.c",
        "src/g711.c",
        "src/g722.c",
        "src/jitter.c",
        "src/local_audio.c",
        "src/mixer.c",
        "src/resample.c",
        "src/rtp.c",
        "src/srtp.c",
        "src/talk_detect.c",
      ],
      "defines": ["NAPI_VERSION=8"],
      # build.sh's warnings; node's common.gypi adds -Wno-unused-parameter. Release keeps node's -O3:
      # the mixer's per-sample loop is vectorised there and not at -O2 (about 2.8 times faster).
      "cflags!": ["-Wno-unused-parameter"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-pthread"],
      "cflags_c": ["-std=c11"],
      "configurations": {
        "Debug": {"cflags!": ["-O0"], "cflags": ["-O0", "-g"]},
      },
      "ldflags": ["-pthread"],
      "libraries": ["-lm", "-ldl"],
      "conditions": [
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_C_LANGUAGE_STANDARD": "c11",
            "GCC_OPTIMIZATION_LEVEL": "2",
            "WARNING_CFLAGS": ["-Wall", "-Wextra", "-Werror"],
          },
        }],
      ],
    },
  ],
}
