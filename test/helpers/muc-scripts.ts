// Test support: the MUC scansion scripts (test/scansion/muc/) that need a
// service option off by default, with the `muc` settings they run with.

export const MUC_SCRIPT_OPTIONS: Record<string, Record<string, unknown>> = {
  'nick_enforced.scs': { enforce_registered_nickname: true },
};
