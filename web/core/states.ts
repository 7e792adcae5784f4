// The connection's states, named once, each with what it waits for and the section of
// NetworkBlockDevice/nbd doc/proto.md it implements. The handle may only move along TRANSITIONS;
// the compiler rejects any other `goto` (see NbdHandle#goto).

/** The public states of libnbd (nbd_aio_is_created(3) and friends). */
export type PublicState = 'created' | 'connecting' | 'negotiating' | 'ready' | 'processing' | 'dead' | 'closed';

export const STATES = {
  START: { public: 'created', doc: 'Handle after being initially created' },
  CONNECT: { public: 'connecting', doc: 'Opening the transport to the server' },
  MAGIC: { public: 'connecting', doc: 'Reading NBDMAGIC and the style magic (Handshake)' },
  OLDSTYLE: { public: 'connecting', doc: 'Reading size, flags and reserved bytes (Oldstyle negotiation)' },
  GFLAGS: { public: 'connecting', doc: 'Reading the handshake flags (Newstyle negotiation)' },
  OPT_REPLY: { public: 'connecting', doc: 'Reading an option reply header (Fixed newstyle negotiation)' },
  OPT_REPLY_DATA: { public: 'connecting', doc: 'Reading an option reply payload (Option reply types)' },
  EXPORT_NAME_REPLY: { public: 'connecting', doc: 'Reading size and flags after NBD_OPT_EXPORT_NAME' },
  NEGOTIATING: { public: 'negotiating', doc: 'Connection is ready to negotiate an NBD option' },
  READY: { public: 'ready', doc: 'Connection is ready to process NBD commands' },
  REPLY_HEADER: { public: 'processing', doc: 'Reading a reply header (Transmission)' },
  REPLY_SIMPLE_DATA: { public: 'processing', doc: 'Reading read data of a simple reply into the caller\'s buffer' },
  REPLY_CHUNK: { public: 'processing', doc: 'Reading the fixed part of a structured reply chunk' },
  REPLY_CHUNK_DATA: { public: 'processing', doc: 'Reading NBD_REPLY_TYPE_OFFSET_DATA bytes into the caller\'s buffer' },
  DEAD: { public: 'dead', doc: 'Connection is in an unrecoverable error state' },
  CLOSED: { public: 'closed', doc: 'Connection is closed' },
} as const satisfies Record<string, { public: PublicState; doc: string }>;

export type State = keyof typeof STATES;

/** Legal moves, besides DEAD and CLOSED which any state may reach. */
export const TRANSITIONS = {
  START: ['CONNECT'],
  CONNECT: ['MAGIC'],
  MAGIC: ['OLDSTYLE', 'GFLAGS'],
  OLDSTYLE: ['READY'],
  GFLAGS: ['OPT_REPLY', 'EXPORT_NAME_REPLY'],
  OPT_REPLY: ['OPT_REPLY_DATA', 'OPT_REPLY', 'NEGOTIATING', 'EXPORT_NAME_REPLY', 'READY'],
  OPT_REPLY_DATA: ['OPT_REPLY', 'NEGOTIATING', 'EXPORT_NAME_REPLY', 'READY'],
  EXPORT_NAME_REPLY: ['READY'],
  NEGOTIATING: ['OPT_REPLY', 'EXPORT_NAME_REPLY'],
  READY: ['REPLY_HEADER'],
  REPLY_HEADER: ['READY', 'REPLY_SIMPLE_DATA', 'REPLY_CHUNK', 'REPLY_CHUNK_DATA'],
  REPLY_SIMPLE_DATA: ['READY'],
  REPLY_CHUNK: ['READY', 'REPLY_CHUNK_DATA'],
  REPLY_CHUNK_DATA: ['READY'],
  DEAD: [],
  CLOSED: [],
} as const satisfies Record<State, readonly State[]>;

export type Next<S extends State> = (typeof TRANSITIONS)[S][number];

/** libnbd's groups of permitted states, as its error messages name them. */
export const PERMITTED = {
  created: { states: ['created'], text: 'newly created' },
  negotiating: { states: ['negotiating'], text: 'negotiating' },
  connected: { states: ['ready', 'processing'], text: 'connected with the server' },
  closed: { states: ['closed'], text: 'shut down' },
  dead: { states: ['dead'], text: 'dead' },
} as const satisfies Record<string, { states: readonly PublicState[]; text: string }>;

export type Permitted = keyof typeof PERMITTED;
