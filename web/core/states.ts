// The connection's states, named once as libnbd's generator/state_machine.ml names them, each with
// what it waits for and the section of NetworkBlockDevice/nbd doc/proto.md it implements. Only the
// states where the handle waits for the server are here: sending never blocks (the transport
// queues). The handle may only move along TRANSITIONS; the compiler rejects any other `goto`.

/** The public states of libnbd (nbd_aio_is_created(3) and friends). */
export type PublicState = 'created' | 'connecting' | 'negotiating' | 'ready' | 'processing' | 'dead' | 'closed';

interface StateInfo {
  public: PublicState;
  /** One line: what the handle is doing there (nbd_connection_state(3) prints it). */
  doc: string;
  /** The proto.md section it implements. */
  spec: string;
}

const at = (p: PublicState, doc: string, spec = ''): StateInfo => ({ public: p, doc, spec });
const C = 'connecting';
const OPTION = 'Fixed newstyle negotiation, Option reply types';

export const STATES = {
  START: at('created', 'Handle after being initially created'),
  CONNECT: at(C, 'Opening the transport to the server'),
  'MAGIC.RECV_MAGIC': at(C, 'Receive NBDMAGIC and the style magic', 'Handshake'),
  'OLDSTYLE.RECV_REMAINING': at(C, 'Receive the size, flags and zeroes of the oldstyle header', 'Oldstyle negotiation'),
  'NEWSTYLE.RECV_GFLAGS': at(C, 'Receive the handshake flags, then send the client flags', 'Newstyle negotiation'),
  'NEWSTYLE.OPT_STARTTLS.RECV_REPLY': at(C, 'Receive the reply to NBD_OPT_STARTTLS', OPTION),
  'NEWSTYLE.OPT_STARTTLS.RECV_REPLY_PAYLOAD': at(C, 'Receive its payload', OPTION),
  'NEWSTYLE.OPT_STARTTLS.TLS_HANDSHAKE': at(C, 'Perform the TLS handshake on the same stream', 'TLS support'),
  'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY': at(C, 'Receive the reply to NBD_OPT_EXTENDED_HEADERS', OPTION),
  'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY_PAYLOAD': at(C, 'Receive its payload', OPTION),
  'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY': at(C, 'Receive the reply to NBD_OPT_STRUCTURED_REPLY', OPTION),
  'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY_PAYLOAD': at(C, 'Receive its payload', OPTION),
  'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY': at(C, 'Receive a reply to NBD_OPT_SET_META_CONTEXT or NBD_OPT_LIST_META_CONTEXT', 'Metadata querying'),
  'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY_PAYLOAD': at(C, 'Receive its payload (NBD_REP_META_CONTEXT: id and name)', 'Metadata querying'),
  'NEWSTYLE.OPT_GO.RECV_REPLY': at(C, 'Receive a reply to NBD_OPT_GO or NBD_OPT_INFO', OPTION),
  'NEWSTYLE.OPT_GO.RECV_REPLY_PAYLOAD': at(C, 'Receive its payload (NBD_REP_INFO: NBD_INFO_*)', OPTION),
  'NEWSTYLE.OPT_LIST.RECV_REPLY': at(C, 'Receive a reply to NBD_OPT_LIST', OPTION),
  'NEWSTYLE.OPT_LIST.RECV_REPLY_PAYLOAD': at(C, 'Receive its payload (NBD_REP_SERVER: name and description)', OPTION),
  'NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY': at(C, 'Receive the size and flags after NBD_OPT_EXPORT_NAME', 'Newstyle negotiation'),
  'NEWSTYLE.OPT_ABORT.RECV_REPLY': at(C, 'After NBD_OPT_ABORT: receive its optional reply while the server hangs up', 'Termination of the session during option haggling'),
  'NEWSTYLE.OPT_ABORT.RECV_REPLY_PAYLOAD': at(C, 'Receive its payload', 'Termination of the session during option haggling'),
  NEGOTIATING: at('negotiating', 'Connection is ready to negotiate an NBD option', 'Option haggling (opt mode)'),
  READY: at('ready', 'Connection is ready to process NBD commands', 'Transmission'),
  'REPLY.RECV_REPLY': at('processing', 'Receive a reply header: its magic, then the rest', 'Simple reply message, Structured reply chunk message'),
  'REPLY.SIMPLE_REPLY.RECV_READ_PAYLOAD': at('processing', 'Receive the data of a simple read reply into the caller\'s buffer', 'Simple reply message'),
  'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA': at('processing', 'Receive the offset of an NBD_REPLY_TYPE_OFFSET_DATA chunk', 'Structured reply types'),
  'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA_DATA': at('processing', 'Receive its data into the caller\'s buffer', 'Structured reply types'),
  'REPLY.CHUNK_REPLY.RECV_OFFSET_HOLE': at('processing', 'Receive an NBD_REPLY_TYPE_OFFSET_HOLE chunk', 'Structured reply types'),
  'REPLY.CHUNK_REPLY.RECV_BS_ENTRIES': at('processing', 'Receive an NBD_REPLY_TYPE_BLOCK_STATUS(_EXT) chunk', 'Structured reply types, Metadata querying'),
  'REPLY.CHUNK_REPLY.RECV_ERROR': at('processing', 'Receive an error chunk', 'Structured reply types'),
  DEAD: at('dead', 'Connection is in an unrecoverable error state, can only be closed'),
  CLOSED: at('closed', 'Connection is closed'),
} as const satisfies Record<string, StateInfo>;

export type State = keyof typeof STATES;

// After an option's last reply the handshake goes on with the next option it needs (extended
// headers, structured replies, meta contexts, GO), or waits for the caller (opt mode).
const AFTER_EXTENDED_HEADERS = ['NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY', 'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY', 'NEWSTYLE.OPT_GO.RECV_REPLY', 'NEGOTIATING'] as const;
const AFTER_STARTTLS = ['NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY', ...AFTER_EXTENDED_HEADERS] as const;
const AFTER_GO = ['READY', 'NEGOTIATING', 'NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY'] as const;
/** NBD_REP_ERR_SHUTDOWN to any option: the client must send NBD_OPT_ABORT. */
const ABORT = 'NEWSTYLE.OPT_ABORT.RECV_REPLY';
const REPLY_END = 'READY';

/** Legal moves, besides DEAD and CLOSED which any state may reach. */
export const TRANSITIONS = {
  START: ['CONNECT'],
  CONNECT: ['MAGIC.RECV_MAGIC'],
  'MAGIC.RECV_MAGIC': ['OLDSTYLE.RECV_REMAINING', 'NEWSTYLE.RECV_GFLAGS'],
  'OLDSTYLE.RECV_REMAINING': ['READY'],
  'NEWSTYLE.RECV_GFLAGS': ['NEWSTYLE.OPT_STARTTLS.RECV_REPLY', ...AFTER_STARTTLS, 'NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY'],
  'NEWSTYLE.OPT_STARTTLS.RECV_REPLY': ['NEWSTYLE.OPT_STARTTLS.RECV_REPLY_PAYLOAD'],
  'NEWSTYLE.OPT_STARTTLS.RECV_REPLY_PAYLOAD': ['NEWSTYLE.OPT_STARTTLS.TLS_HANDSHAKE', ...AFTER_STARTTLS, ABORT],
  'NEWSTYLE.OPT_STARTTLS.TLS_HANDSHAKE': AFTER_STARTTLS,
  'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY': ['NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY_PAYLOAD'],
  'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY_PAYLOAD': [...AFTER_EXTENDED_HEADERS, ABORT],
  'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY': ['NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY_PAYLOAD'],
  'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY_PAYLOAD': ['NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY', 'NEWSTYLE.OPT_GO.RECV_REPLY', 'NEGOTIATING', ABORT],
  'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY': ['NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY_PAYLOAD'],
  'NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY_PAYLOAD': ['NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY', 'NEWSTYLE.OPT_GO.RECV_REPLY', 'NEGOTIATING', ABORT],
  'NEWSTYLE.OPT_GO.RECV_REPLY': ['NEWSTYLE.OPT_GO.RECV_REPLY_PAYLOAD'],
  'NEWSTYLE.OPT_GO.RECV_REPLY_PAYLOAD': ['NEWSTYLE.OPT_GO.RECV_REPLY', ...AFTER_GO, ABORT],
  'NEWSTYLE.OPT_LIST.RECV_REPLY': ['NEWSTYLE.OPT_LIST.RECV_REPLY_PAYLOAD'],
  'NEWSTYLE.OPT_LIST.RECV_REPLY_PAYLOAD': ['NEWSTYLE.OPT_LIST.RECV_REPLY', 'NEGOTIATING', ABORT],
  'NEWSTYLE.OPT_EXPORT_NAME.RECV_REPLY': ['READY'],
  'NEWSTYLE.OPT_ABORT.RECV_REPLY': ['NEWSTYLE.OPT_ABORT.RECV_REPLY_PAYLOAD'],
  'NEWSTYLE.OPT_ABORT.RECV_REPLY_PAYLOAD': [ABORT],
  NEGOTIATING: ['NEWSTYLE.OPT_META_CONTEXT.RECV_REPLY', 'NEWSTYLE.OPT_GO.RECV_REPLY', 'NEWSTYLE.OPT_LIST.RECV_REPLY', ABORT,
    'NEWSTYLE.OPT_STARTTLS.RECV_REPLY', 'NEWSTYLE.OPT_STRUCTURED_REPLY.RECV_REPLY', 'NEWSTYLE.OPT_EXTENDED_HEADERS.RECV_REPLY'],
  READY: ['REPLY.RECV_REPLY'],
  'REPLY.RECV_REPLY': [REPLY_END, 'REPLY.SIMPLE_REPLY.RECV_READ_PAYLOAD', 'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA', 'REPLY.CHUNK_REPLY.RECV_OFFSET_HOLE',
    'REPLY.CHUNK_REPLY.RECV_BS_ENTRIES', 'REPLY.CHUNK_REPLY.RECV_ERROR'],
  'REPLY.SIMPLE_REPLY.RECV_READ_PAYLOAD': [REPLY_END],
  'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA': ['REPLY.CHUNK_REPLY.RECV_OFFSET_DATA_DATA'],
  'REPLY.CHUNK_REPLY.RECV_OFFSET_DATA_DATA': [REPLY_END],
  'REPLY.CHUNK_REPLY.RECV_OFFSET_HOLE': [REPLY_END],
  'REPLY.CHUNK_REPLY.RECV_BS_ENTRIES': [REPLY_END],
  'REPLY.CHUNK_REPLY.RECV_ERROR': [REPLY_END],
  DEAD: [],
  CLOSED: [],
} as const satisfies Record<State, readonly State[]>;

export type Next<S extends State> = (typeof TRANSITIONS)[S][number];

/** The states from which `T` may be reached: a move into `T` from any of them type-checks. */
export type Into<T extends State> = { [S in State]: T extends Next<S> ? S : never }[State];

/** libnbd's groups of permitted states, as its error messages name them. */
export const PERMITTED = {
  created: { states: ['created'], text: 'newly created' },
  negotiating: { states: ['negotiating'], text: 'negotiating' },
  connected: { states: ['ready', 'processing'], text: 'connected with the server' },
  closed: { states: ['closed'], text: 'shut down' },
  dead: { states: ['dead'], text: 'dead' },
} as const satisfies Record<string, { states: readonly PublicState[]; text: string }>;

export type Permitted = keyof typeof PERMITTED;
