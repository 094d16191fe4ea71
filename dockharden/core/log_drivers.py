"""The log options each logging driver accepts, and the check of a planned daemon.json against them.

Pure. `dockerd --validate` does not judge `log-opts`; the daemon does at start (`failed to set log opts`),
so a wrong option is refused here, before anything is written, whatever layer (or the operator's own file)
produced it.

Read from moby's source, tag docker-v29.7.2 (checked against v20.10.24 and v24.0.0):
- daemon/logger/factory.go: ValidateLogOpts; `none` accepts anything; `mode` and `max-buffer-size` are
  the daemon's own options (builtInLogOpts), taken out before the driver's ValidateLogOpt sees the rest;
- daemon/logger/loggerutils/cache/validate.go: the dual-logging cache's `cache-*` options, added to
  builtInLogOpts (accepted for every driver);
- daemon/logger/jsonfilelog/jsonfilelog.go, local/local.go (LogOptKeys), syslog/syslog.go,
  journald/journald.go, gelf/gelf.go, fluentd/fluentd.go, awslogs/cloudwatchlogs.go, splunk/splunk.go,
  gcplogs/gcplogging.go: each driver's ValidateLogOpt;
- daemon/logger/logentries/logentries.go (v24.0.0; the driver was removed in 25.0);
- daemon/logger/etwlogs: Windows only, not registered on Linux.
Newer options of a driver (e.g. fluentd-read-timeout) are in the table even for older engines: an option
an old engine refuses may pass here; never the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable

MOBY_TAG = "docker-v29.7.2"

# logger.AttrEnv, AttrEnvRegex, AttrLabels, AttrLabelsRegex (the container's attributes added to each line)
ATTRIBUTES = frozenset({"env", "env-regex", "labels", "labels-regex"})
TAG = frozenset({"tag"})  # logger.AttrLogTag
# handled by the daemon for every driver: factory.go builtInLogOpts and the cache's options
DAEMON_OPTS = frozenset({"mode", "max-buffer-size", "cache-disabled", "cache-max-size", "cache-max-file",
                         "cache-compress"})
ROTATION = frozenset({"max-size", "max-file", "compress"})

DRIVER_OPTS: dict[str, frozenset[str]] = {
    "json-file": ATTRIBUTES | TAG | ROTATION,
    "local": ROTATION,
    "syslog": ATTRIBUTES | TAG | {"syslog-address", "syslog-facility", "syslog-tls-ca-cert", "syslog-tls-cert",
                                  "syslog-tls-key", "syslog-tls-skip-verify", "syslog-format"},
    "journald": ATTRIBUTES | TAG,
    "gelf": ATTRIBUTES | TAG | {"gelf-address", "gelf-compression-level", "gelf-compression-type",
                                "gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"},
    "fluentd": ATTRIBUTES | TAG | {"fluentd-address", "fluentd-async", "fluentd-async-reconnect-interval",
                                   "fluentd-buffer-limit", "fluentd-max-retries", "fluentd-request-ack",
                                   "fluentd-retry-wait", "fluentd-sub-second-precision", "fluentd-write-timeout",
                                   "fluentd-read-timeout"},
    "awslogs": TAG | {"awslogs-group", "awslogs-stream", "awslogs-create-group", "awslogs-create-stream",
                      "awslogs-region", "awslogs-endpoint", "awslogs-datetime-format", "awslogs-multiline-pattern",
                      "awslogs-credentials-endpoint", "awslogs-force-flush-interval-seconds",
                      "awslogs-max-buffered-events", "awslogs-format"},
    "splunk": ATTRIBUTES | TAG | {"splunk-url", "splunk-token", "splunk-source", "splunk-sourcetype", "splunk-index",
                                  "splunk-capath", "splunk-caname", "splunk-insecureskipverify", "splunk-format",
                                  "splunk-verify-connection", "splunk-gzip", "splunk-gzip-level",
                                  "splunk-index-acknowledgment"},
    "gcplogs": ATTRIBUTES | {"gcp-project", "gcp-log-cmd", "gcp-meta-zone", "gcp-meta-name", "gcp-meta-id"},
    "logentries": ATTRIBUTES | TAG | {"logentries-token", "line-only"},
}
ANY_OPTS = frozenset({"none"})  # factory.go: ValidateLogOpts returns at once for `none`
# drivers that send the logs off the host (CIS 2.13/2.14 remote logging), and journald (the host's journal)
REMOTE_DRIVERS = frozenset({"syslog", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "logentries"})
# a driver the engine no longer has, from this version on (moby removed logentries in 25.0)
REMOVED = {"logentries": (25, 0)}
WINDOWS_ONLY = frozenset({"etwlogs"})


def known(driver: str) -> bool:
    """A built-in driver of Linux dockerd (a plugin's `name:tag`, or anything else, is not judged)."""
    return driver in DRIVER_OPTS or driver in ANY_OPTS


def refused(driver: str, options: Iterable[str]) -> list[str]:
    """The options `driver` refuses at start, sorted; [] for a driver this table does not know."""
    if driver in ANY_OPTS or driver not in DRIVER_OPTS:
        return []
    accepted = DRIVER_OPTS[driver] | DAEMON_OPTS
    return sorted(o for o in options if o not in accepted)


def takers(option: str) -> list[str]:
    """The drivers that accept `option` (for the fix)."""
    if option in DAEMON_OPTS:
        return sorted(DRIVER_OPTS)
    return sorted(d for d, opts in DRIVER_OPTS.items() if option in opts)


def logging_kind(driver: str) -> str:
    """'remote', 'journald', 'local' (json-file, local, none) or 'plugin' (not a built-in driver)."""
    if driver in REMOTE_DRIVERS:
        return "remote"
    if driver == "journald":
        return "journald"
    if driver in ("json-file", "local", "none"):
        return "local"
    return "plugin"
