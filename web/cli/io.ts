// What every subcommand shares: the outside world it may touch (Io) and its own shape (Command).

/** What a subcommand may do to the outside world. */
export interface Io {
  /** Write to stdout, waiting while the reader is behind. */
  write(chunk: string | Uint8Array): Promise<void>;
  /** One line on stderr. */
  err(line: string): void;
  /** Whether stdout is a terminal (the colour default). */
  readonly isTTY: boolean;
  /** Whether the reader of stdout has gone away: stop. */
  readonly closed: boolean;
}

export interface Command {
  /** One line for `webnbd --help`. */
  summary: string;
  /** Run with the arguments after the subcommand's name; resolve to the exit status. */
  run(argv: string[], io: Io): Promise<number>;
}
