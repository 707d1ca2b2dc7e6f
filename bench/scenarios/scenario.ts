// The shape of a scenario: named numeric parameters with a full-size and a
// quick default, a run against a server, and a one-line summary of its result.

import type { ScenarioContext } from './common.js';

export interface ParameterSpec {
  full: number;
  quick: number;
  help: string;
}

export interface Scenario<K extends string = string, R = unknown> {
  name: string;
  summary: string;
  parameters: Record<K, ParameterSpec>;
  run(context: ScenarioContext, parameters: Record<K, number>): Promise<R>;
  describe(result: R): string;
}

/** The defaults of a scenario, overridden by the values given. */
export function parametersOf<K extends string>(
  scenario: Scenario<K>,
  quick: boolean,
  given: Partial<Record<string, number>> = {},
): Record<K, number> {
  const values = {} as Record<K, number>;
  for (const [name, spec] of Object.entries(scenario.parameters) as [K, ParameterSpec][]) {
    values[name] = given[name] ?? (quick ? spec.quick : spec.full);
  }
  return values;
}
