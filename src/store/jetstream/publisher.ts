// Publishes to a JetStream stream, each conditional on its subject's last
// sequence, the stream's acknowledgements all arriving on one subscription.
// nats.js's `js.publish` makes a request of each: a timer, a promise and an
// error with its stack (made even when the answer comes, to cancel the request
// it just resolved) per publish, which cost the archive as much as the
// publish's own socket write. Here a publish is a message with a numbered
// reply subject, and one timer at a time looks for answers overdue.

import { createInbox, headers, type Msg, type NatsConnection, type NatsError } from 'nats';

/** JetStream's answer to a publish: where the message went, or why not. */
interface PubAck {
  seq?: number;
  error?: { code: number; description: string };
}

interface Waiting {
  resolve(sequence: number): void;
  reject(err: Error): void;
  sentAt: number;
}

/** What nats.js's `js.publish` waits for an answer by default. */
const ANSWER_TIMEOUT_MS = 5_000;

const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';

export class StreamPublisher {
  private readonly inbox = createInbox();
  private readonly decoder = new TextDecoder();
  private next = 0;
  /** Publishes not answered yet, oldest first. */
  private readonly waiting = new Map<number, Waiting>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nats: NatsConnection,
    private readonly timeoutMs = ANSWER_TIMEOUT_MS,
  ) {
    nats.subscribe(`${this.inbox}.*`, { callback: (err, msg) => this.answered(err, msg) });
  }

  /** Publishes `data` to `subject` if the subject's last sequence is `lastSubjectSequence` (0: it has none); resolves to the message's sequence. */
  publish(subject: string, data: string, lastSubjectSequence: number): Promise<number> {
    const token = ++this.next;
    const head = headers();
    head.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(lastSubjectSequence));
    return new Promise((resolve, reject) => {
      try {
        this.nats.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: head });
      } catch (err) {
        return reject(err as Error);
      }
      this.waiting.set(token, { resolve, reject, sentAt: Date.now() });
      this.timer ??= this.expireLater();
    });
  }

  private answered(err: NatsError | null, msg: Msg): void {
    const token = Number(msg.subject.slice(this.inbox.length + 1));
    const waiting = this.waiting.get(token);
    if (waiting === undefined) return;
    this.waiting.delete(token);
    if (err) return waiting.reject(err);
    // A status without a body: no stream listens on the subject (503), or the like.
    if (msg.data.length === 0) return waiting.reject(new Error(`JetStream did not take the message: ${msg.headers?.code ?? ''} ${msg.headers?.description ?? ''}`));
    try {
      const ack = JSON.parse(this.decoder.decode(msg.data)) as PubAck;
      if (ack.error) waiting.reject(new Error(`JetStream refused the message: ${ack.error.description} (${ack.error.code})`));
      else waiting.resolve(Number(ack.seq));
    } catch (error) {
      waiting.reject(error as Error);
    }
  }

  /** Fails the publishes unanswered for `timeoutMs`, and looks again later if some are still waiting. */
  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [token, waiting] of this.waiting) {
      if (now - waiting.sentAt < this.timeoutMs) break;
      this.waiting.delete(token);
      waiting.reject(new Error(`JetStream did not answer a publish within ${this.timeoutMs} ms`));
    }
    if (this.waiting.size > 0) this.timer = this.expireLater();
  }

  /** Not holding the process up: a connection with publishes in flight does that. */
  private expireLater(): NodeJS.Timeout {
    return setTimeout(() => this.expire(), this.timeoutMs).unref();
  }
}
