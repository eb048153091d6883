"""Admin replay: rebuild a case or a whole agency database from the shared topics.

scope.py decides which partitions, offsets and keys to read (a whole topic, a time, or one
case and the cases linked to it); service.py reads them as the pipeline's assigned source
(pipeline/sources.py: no consumer group, so live sync is untouched) through the same batch
loop, checkpoint and apply rule as sync; fresh.py builds a new database and swaps it in;
diff.py tells what a replay would change without writing.
"""
