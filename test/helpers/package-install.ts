/**
 * The package as an operator gets it: `npm pack` of this checkout, installed
 * into a prefix the way `npm install -g` lays it out (lib/node_modules/rtreflect,
 * bin/rtreflect → its CLI, the native addon built by its install script).
 * `npm install -g` would resolve the dependencies from the registry; tests stay
 * off the network, so the dependencies come from package-lock.json through
 * `npm ci --offline` (npm's cache, filled by scripts/setup's `npm ci`).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/util/package-info.js';

export interface InstalledPackage {
  /** The prefix: mount it as /usr/local and `rtreflect` is /usr/local/bin/rtreflect. */
  prefix: string;
  /** The directory the prefix is in (delete it when done). */
  dir: string;
}

export function installPackage(): InstalledPackage {
  const root = packageRoot();
  const dir = mkdtempSync(join(tmpdir(), 'rtr-pkg-'));
  try {
    return { prefix: installInto(root, dir), dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function installInto(root: string, dir: string): string {
  execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack left no tarball in ${dir}`);
  const prefix = join(dir, 'local');
  const pkg = join(prefix, 'lib', 'node_modules', 'rtreflect');
  mkdirSync(pkg, { recursive: true });
  mkdirSync(join(prefix, 'bin'));
  execFileSync('tar', ['-xzf', join(dir, tgz), '-C', pkg, '--strip-components=1']);
  copyFileSync(join(root, 'package-lock.json'), join(pkg, 'package-lock.json'));
  try {
    execFileSync('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: pkg, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(
      `npm ci --offline of the packed package failed (npm's cache lacks a dependency? run \`npm ci\` in the checkout, as scripts/setup does): ${stderr.trim().split('\n').slice(0, 3).join(' ')}`,
    );
  }
  // As npm's bin-links does for a package's bin: executable, linked into the prefix's bin/.
  chmodSync(join(pkg, 'dist', 'src', 'cli', 'main.js'), 0o755);
  symlinkSync('../lib/node_modules/rtreflect/dist/src/cli/main.js', join(prefix, 'bin', 'rtreflect'));
  return prefix;
}
