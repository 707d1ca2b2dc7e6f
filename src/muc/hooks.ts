// The event bus through which feature modules plug into the room core, after
// Prosody's module:hook/fire_event. Handlers run by descending priority (ties
// in the order they were added); the first one that returns something other
// than `undefined` ends the event, and its value is the event's result. A
// handler that vetoes a join, for instance, sends its error and returns true.

type Handler<E, R> = (event: E) => R | undefined | void;

/** Each event name maps to the event it carries and the result a handler may give. */
export type HookMap = { [name: string]: { event: unknown; result: unknown } };

interface Registered {
  handler: Handler<unknown, unknown>;
  priority: number;
  order: number;
}

export class Hooks<M extends HookMap> {
  private readonly handlers = new Map<string, Registered[]>();
  private added = 0;

  on<K extends keyof M & string>(name: K, handler: Handler<M[K]['event'], M[K]['result']>, priority = 0): void {
    const list = this.handlers.get(name) ?? [];
    list.push({ handler: handler as Handler<unknown, unknown>, priority, order: this.added++ });
    list.sort((a, b) => b.priority - a.priority || a.order - b.order);
    this.handlers.set(name, list);
  }

  fire<K extends keyof M & string>(name: K, event: M[K]['event']): M[K]['result'] | undefined {
    const list = this.handlers.get(name);
    if (list === undefined) return undefined;
    for (const { handler } of list) {
      const result = handler(event);
      if (result !== undefined) return result as M[K]['result'];
    }
    return undefined;
  }
}
