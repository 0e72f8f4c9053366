/* The status LEDs' GPIO lines through the kernel's GPIO character device (uAPI v2), for boards whose
 * kernel has no /dev/gpiomem (Debian's). See gpio.c. */
#ifndef CONFBOX_GPIO_H
#define CONFBOX_GPIO_H

#include <node_api.h>

napi_value confbox_gpio_request(napi_env env, napi_callback_info info);
napi_value confbox_gpio_set(napi_env env, napi_callback_info info);
napi_value confbox_gpio_release(napi_env env, napi_callback_info info);

#endif
