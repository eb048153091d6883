"""Admin replay: rebuild a case or a whole agency database from the shared topics.

scope.py decides which partitions, offsets and keys to read (a whole topic, a time, or one
case and the cases linked to it); runner.py reads them with assigned partitions (no consumer
group: live sync is untouched) and applies them through sync's own checkpoint and apply
rule; fresh.py builds a new database and swaps it in; diff.py tells what a replay would
change without writing; service.py puts the modes together.
"""
