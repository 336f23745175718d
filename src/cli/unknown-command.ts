/**
 * Unknown commands are said to be unknown. Without this check, commander hands any word that
 * is not a command to the default command (`serve`), which then fails with an unrelated
 * message ("too many arguments for 'serve'"). This finds the first word on the command line
 * that is not an option or an option's value, and if it names no command, returns the error
 * text with the nearest command name (the caller exits 2).
 */
import type { Command, Option } from 'commander';
import { nearest } from '../shared/nearest.js';

/** Option flags (long and short) that take a value, so the word after them is not a command. */
function valueFlags(commands: readonly Command[]): Set<string> {
  const flags = new Set<string>();
  for (const command of commands) {
    for (const option of command.options as readonly Option[]) {
      if (!option.required && !option.optional) continue;
      if (option.long) flags.add(option.long);
      if (option.short) flags.add(option.short);
    }
  }
  return flags;
}

export function unknownCommandError(program: Command, args: readonly string[]): string | null {
  const commands = program.commands;
  const names = [...commands.flatMap((c) => [c.name(), ...c.aliases()]), 'help'];
  const defaultName = (program as unknown as { _defaultCommandName?: string | null })._defaultCommandName;
  const defaultCommand = commands.find((c) => c.name() === defaultName);
  const takesValue = valueFlags([program, ...(defaultCommand ? [defaultCommand] : [])]);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return null;
    if (arg.startsWith('-')) {
      if (!arg.includes('=') && takesValue.has(arg)) i++;
      continue;
    }
    if (names.includes(arg)) return null;
    const guess = nearest(arg, names);
    return `unknown command '${arg}'.${guess ? ` Did you mean '${guess}'?` : ''} Commands: ${names.filter((n) => n !== 'help').join(', ')}. See \`agent-secret-store --help\`.`;
  }
  return null;
}
