-- Prosody for the Conclave benchmark (written for 0.12, Debian bookworm).
-- `conclave bench compare` fills in the placeholders between @ signs and starts it with
--   prosody -F --config FILE
-- What differs from Debian's stock configuration, and why, is in README.md.

run_as_root = true -- the bench may run as root; Prosody refuses to otherwise
pidfile = "@DATA_DIR@/prosody.pid"
data_path = "@DATA_DIR@"
log = { warn = "*stderr" }

-- Lua's default incremental collector dominates Prosody's cost under load.
@GC@

-- Nothing on disk: accounts, rooms and tombstones live in memory.
storage = "memory"

-- Any username and password log in (SASL PLAIN), or SASL ANONYMOUS with @AUTH@ = "anonymous".
authentication = "@AUTH@"
insecure_open_authentication = "Yes please, I know what I'm doing!"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true

-- Only what a MUC benchmark client needs; no mod_smacks, mod_carbons or mod_pep (work per
-- stanza the other servers do not do), and mod_limits (rate limits) only for workloads that
-- run each server with its stock protection (the overload workload); mod_smacks and
-- mod_csi_simple only for the workload of mobile clients (mobile-reconnect).
modules_enabled = { "saslauth"; "disco"; "ping";@LIMITS_MODULE@ }
@LIMITS@
modules_disabled = { "s2s" }

c2s_ports = { @PORT@ }
c2s_interfaces = { "127.0.0.1" }
network_settings = {
	tcp_backlog = 4096; -- default 128: connect storms overflow it (as Conclave's default and the limit server)
	-- Default true: Nagle's algorithm holds small writes until the previous ones are
	-- acknowledged. The other servers set TCP_NODELAY; with Nagle on, Prosody's fan-out
	-- maximum was about half and its p99 about 40 ms even at light load.
	nagle = false;
}

VirtualHost "@DOMAIN@"

Component "@MUC_DOMAIN@" "muc"
	-- Default 100: beyond it Prosody serializes and evicts live rooms.
	muc_room_cache_size = 100000
	muc_max_rooms = 100000
