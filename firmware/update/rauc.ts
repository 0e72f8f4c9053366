/**
 * The box's client of RAUC, the update service of the image (Debian's rauc and rauc-service): `rauc status`,
 * `rauc install` and `rauc status mark-good`, run as the firmware's unprivileged user; the rauc CLI talks to the
 * service over D-Bus, and the service (root) writes the inactive slot and switches U-Boot's boot order.
 */
import { spawn } from 'node:child_process';

/** One root file system slot as `rauc status --detailed` describes it. */
export interface Slot {
  /** RAUC's name (rootfs.0) and the boot loader's (A). */
  name: string;
  bootname: string;
  /** booted: the running system; active: the one the next boot starts; inactive: the other. */
  state: 'booted' | 'active' | 'inactive' | string;
  /** The slot the boot loader starts first. */
  primary: boolean;
  /** good or bad in the boot loader's eyes (bad: its attempts ran out). */
  bootStatus: string;
  /** The firmware version the slot holds ("" when RAUC never installed it and the image wrote none). */
  version: string;
  installedAt: string | null;
}

export interface RaucStatus {
  compatible: string;
  booted: string;
  slots: Slot[];
}

export interface InstallProgress {
  percent: number;
  step: string;
}

export class RaucError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaucError';
  }
}

/** Runs the rauc program; stdout and stderr come back, a failure is a RaucError with rauc's own words. */
export class Rauc {
  constructor(private readonly program = process.env.CONFBOX_RAUC ?? 'rauc') {}

  async status(): Promise<RaucStatus> {
    const out = await this.run(['status', '--detailed', '--output-format=json']);
    return parseStatus(out.stdout);
  }

  /** Installs a bundle into the inactive slot and makes that slot the next to boot. */
  async install(file: string, onProgress: (p: InstallProgress) => void): Promise<void> {
    await this.run(['install', file], (line) => {
      const m = /^\s*(\d{1,3})%\s+(.*)$/.exec(line);
      if (m) onProgress({ percent: Number(m[1]), step: m[2]!.trim() });
    });
  }

  /** The running slot came up healthy: the boot loader keeps it (its attempts are reset). */
  async markGood(): Promise<string> {
    const out = await this.run(['status', 'mark-good', 'booted']);
    return out.stdout.trim();
  }

  private run(args: string[], onLine?: (line: string) => void): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      let child;
      try {
        child = spawn(this.program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        reject(new RaucError(`${this.program}: ${(e as Error).message}`));
        return;
      }
      let stdout = '';
      let stderr = '';
      let partial = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        if (!onLine) return;
        partial += d;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) onLine(l);
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.on('error', (e: NodeJS.ErrnoException) => {
        reject(new RaucError(e.code === 'ENOENT' ? `${this.program} is not installed: this system has no update service` : `${this.program}: ${e.message}`));
      });
      child.on('close', (code) => {
        if (code === 0) resolve({ stdout, stderr });
        else reject(new RaucError(explain(stdout, stderr, code)));
      });
    });
  }
}

/** rauc's reason (its LastError), else its last words without log prefixes: "signature verification failed: …". */
function explain(stdout: string, stderr: string, code: number | null): string {
  const lastError = /^LastError:\s*(.+)$/m.exec(stdout);
  if (lastError) return lastError[1]!.trim();
  const text = stderr || stdout;
  const lines = text.split('\n').map((l) => l.replace(/^rauc-(Message|Critical|Warning)?:?\s*[\d:.]*:?\s*/, '').trim()).filter(Boolean);
  const meaningful = lines.filter((l) => !/^\d{1,3}%/.test(l) && l !== 'idle');
  const last = meaningful.at(-1) ?? `rauc exited with ${code}`;
  return last.replace(/^(Failed to install bundle|Installing `[^`]*` failed):?\s*/, '') || last;
}

export function parseStatus(json: string): RaucStatus {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new RaucError('rauc status did not answer in JSON');
  }
  const r = raw as { compatible?: unknown; booted?: unknown; boot_primary?: unknown; slots?: unknown };
  if (!Array.isArray(r.slots)) throw new RaucError('rauc status listed no slots');
  const slots: Slot[] = [];
  for (const entry of r.slots as Array<Record<string, Record<string, unknown>>>) {
    for (const [name, s] of Object.entries(entry)) {
      if (s.class !== undefined && s.class !== 'rootfs') continue;
      const st = (s.slot_status ?? {}) as { bundle?: { version?: unknown }; installed?: { timestamp?: unknown } };
      slots.push({
        name, bootname: String(s.bootname ?? ''), state: String(s.state ?? ''), primary: r.boot_primary === name,
        bootStatus: String(s.boot_status ?? ''), version: typeof st.bundle?.version === 'string' ? st.bundle.version : '',
        installedAt: typeof st.installed?.timestamp === 'string' ? st.installed.timestamp : null,
      });
    }
  }
  slots.sort((a, b) => a.bootname.localeCompare(b.bootname));
  return { compatible: String(r.compatible ?? ''), booted: String(r.booted ?? ''), slots };
}
