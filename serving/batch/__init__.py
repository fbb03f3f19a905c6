"""Batch scoring of a dump, resumable: the local engine (:mod:`serving.batch.local`, this
process) and the Ray engine (:mod:`serving.batch.ray`, a Ray Data job) run the same
``score_records`` and share the run files and checkpoint (:mod:`serving.batch.checkpoint`)."""
