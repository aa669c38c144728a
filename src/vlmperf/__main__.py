from vlmperf.cli import entry

entry()
