/** 22527 squared: the port number drasyl was born on. */
export const MAGIC = 0x1e3f5001;
/** 4+1+1+4+32+32+4+1; the Rust doc comment's "75" is wrong (protocol.md s0.1). */
export const HEADER_LEN = 79;
/** Random AEGIS key (32) + tag (16) in front of an armed body. */
export const ARM_HEADER_LEN = 48;
export const RANDOM_LEN = 32;
export const TAG_LEN = 16;
export const FLAG_ARMED = 0x10;
export const MTU = 1472;
/** TCP frames carry a u16 length, so this is the largest one Rust's LengthDelimitedCodec accepts. */
export const MAX_TCP_FRAME = 0xffff;
/** Largest UDP payload: 65535 less the UDP header, and less the 20-byte IPv4 header where it counts. */
export const MAX_UDP4_PAYLOAD = 65_507;
export const MAX_UDP6_PAYLOAD = 65_527;
export const MAX_HOP_COUNT = 7;
export const DEFAULT_NETWORK_ID = 1;

export const OFF_HOP_COUNT = 4;
export const OFF_FLAGS = 5;
export const OFF_NETWORK_ID = 6;
export const OFF_RECIPIENT = 10;
export const OFF_SENDER = 42;
export const OFF_POW = 74;
export const OFF_TYPE = 78;
/** AEAD associated data is header[5..79): everything but magic and the hop count a relay rewrites. */
export const AD_START = OFF_FLAGS;

export const MessageType = { Ack: 0, App: 1, Hello: 2, Unite: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];
export const MESSAGE_TYPE_NAMES = ["ack", "app", "hello", "unite"] as const;

export const ENDPOINT_LEN = 18;
export const HELLO_MAX_ENDPOINTS = 15;
export const UNITE_MAX_ENDPOINTS = 16;
export const HELLO_SP_FIXED_LEN = 16;
export const HELLO_SP_MAX_LEN = HELLO_SP_FIXED_LEN + HELLO_MAX_ENDPOINTS * ENDPOINT_LEN;
export const HELLO_NODE_LEN = 12;
export const ACK_LEN = 8;
export const UNITE_FIXED_LEN = 32;
export const UNITE_MAX_LEN = UNITE_FIXED_LEN + UNITE_MAX_ENDPOINTS * ENDPOINT_LEN;
