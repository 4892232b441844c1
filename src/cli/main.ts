#!/usr/bin/env node
import { Command, Option } from 'commander';
import { reportAndExit } from './cli-errors.js';
import { watchCommand } from './watch-command.js';
import { runCommand } from './run-command.js';
import { checkConfigCommand } from './check-config-command.js';
import { diffCommand, logLevelCommand, resyncCommand, statusCommand } from './control-commands.js';
import { labCommand } from './lab-command.js';
import { DEFAULT_CONTROL_SOCKET, controlRequest } from '../control/control-client.js';
import { DEFAULT_CONFIG_PATH } from '../config/load-config.js';
import { packageVersion } from '../util/package-info.js';

const program = new Command()
  .name('rtreflect')
  .description('Reflect the kernel routes of chosen routing protocols into GoBGP and VPP.')
  .version(packageVersion())
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`rtreflect: ${str.replace(/^error: /, '')}`) })
  .showSuggestionAfterError(true);

const controlOption = (): Option => new Option('--control <path>', 'control socket of the running daemon').default(DEFAULT_CONTROL_SOCKET);

program
  .command('watch')
  .description('print the routes of the chosen protocols, then live normalized events, one per line')
  .option('-p, --protocol <list>', 'protocols by name or number, comma-separated, or "all"', 'bird')
  .option('-t, --table <list>', 'tables by name or number, comma-separated (default: all tables)')
  .option('-f, --family <4|6>', 'address family: 4, 6 or 4,6 (default: both)')
  .option('--json', 'one JSON object per line, for machines')
  .option('--netns <name>', 'watch the routes of another network namespace (a name in /run/netns or a path)')
  .option('--receive-buffer <size>', 'netlink receive buffer, e.g. 64M', '64M')
  .option('--no-bpf', 'do not filter other protocols in the kernel (debugging)')
  .action(async (o) => watchCommand(o));

program
  .command('run')
  .description('run the daemon in the foreground (systemd runs it so)')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG_PATH)
  .option('--control <path>', 'control socket (overrides control.socket in the config)')
  .action(async (o) => runCommand(o));

program
  .command('check-config')
  .description('validate a configuration file without running anything; exit 78 if it is invalid')
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG_PATH)
  .action(async (o) => checkConfigCommand(o));

program
  .command('status')
  .description('show what the running daemon holds and does: sources, sinks, resyncs, errors')
  .option('--json', 'machine-readable')
  .addOption(controlOption())
  .action(async (o) => statusCommand(o));

program
  .command('resync')
  .description('ask the running daemon for a full resync (kernel dump, sinks compared, difference applied)')
  .addOption(controlOption())
  .action(async (o) => resyncCommand(o));

program
  .command('diff')
  .description('show what a resync would change in each sink, applying nothing')
  .option('--json', 'machine-readable')
  .addOption(controlOption())
  .action(async (o) => diffCommand(o));

program
  .command('reload')
  .description('ask the running daemon to re-read its config (as SIGHUP does); a bad config changes nothing')
  .addOption(controlOption())
  .action(async (o: { control: string }) => {
    const res = (await controlRequest(o.control, 'reload')) as { note?: string };
    process.stdout.write(`config reloaded${res.note ? `; ${res.note}` : ''}\n`);
  });

program
  .command('log-level')
  .description("change the running daemon's log level without a restart")
  .argument('<level>', 'fatal, error, warn, info, debug or trace')
  .addOption(controlOption())
  .action(async (level: string, o) => logLevelCommand(level, o));

program
  .command('lab')
  .description('a lab of network namespaces on this machine: BIRD → kernel → rtreflect → gobgpd → a BGP peer')
  .argument('<action>', 'up, down or status')
  .option('--routes <n>', 'routes BIRD exports (IPv4; a tenth as many IPv6)', '300')
  .option('--dir <path>', 'where the lab keeps its files', '/run/rtreflect-lab')
  .option('--prefix <name>', 'namespace name prefix', 'rtrlab')
  .action(async (action: string, o) => labCommand(action, o));

program.parseAsync(process.argv).catch(reportAndExit);
