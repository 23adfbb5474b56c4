"""The gh_summ pipeline: pipeline/gh_summ.py (the @dsl.pipeline), pipeline/local.py (run it with kfp.local),
pipeline/__main__.py (the command line: compile, run --local, status, stop, submit)."""
