// Every scenario, by the name the command line uses.

import { ackedWrites, type AckedWritesResult } from './acked-writes.js';
import { fanout, type FanoutResult } from './fanout.js';
import { idleMemory, type IdleMemoryResult } from './idle-memory.js';
import { joinStorm, type JoinStormResult } from './join-storm.js';
import { largeRoom, type LargeRoomResult } from './large-room.js';
import { mobileReconnect, type MobileReconnectResult } from './mobile-reconnect.js';
import { overload, type OverloadResult } from './overload.js';
import { presenceChurn, type PresenceChurnResult } from './presence-churn.js';
import type { Scenario } from './scenario.js';

export type ScenarioResult =
  | FanoutResult
  | JoinStormResult
  | LargeRoomResult
  | IdleMemoryResult
  | PresenceChurnResult
  | OverloadResult
  | AckedWritesResult
  | MobileReconnectResult;

export const SCENARIOS: readonly Scenario<string, ScenarioResult>[] = [
  fanout,
  joinStorm,
  largeRoom,
  idleMemory,
  presenceChurn,
  overload,
  ackedWrites,
  mobileReconnect,
];

export function scenarioNamed(name: string): Scenario<string, ScenarioResult> | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name);
}
