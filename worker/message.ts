// A message as the worker carries it from the broker to PostgreSQL (or the DLQ).

export interface UserProperties {
  [name: string]: string | string[];
}

export interface InboundMessage {
  topic: string;
  payload: Buffer;
  /** Epoch milliseconds when the worker read the PUBLISH. */
  receivedAt: number;
  qos: 0 | 1;
  /** Set by the broker on redelivery (the DUP flag). */
  dup: boolean;
  userProperties?: UserProperties;
  /** MQTT 5 Content Type, when the publisher set one. */
  contentType?: string;
}
