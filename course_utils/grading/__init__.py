"""Grade a whole class with nbgrader: in parallel, sandboxed, and robust to broken submissions.

``course-utils grade assignment4 --jobs N`` runs the real ``nbgrader autograde`` and
``nbgrader generate_feedback`` once per submission, each in a private copy of the course
(its own gradebook copy, only that student's files), with the student's kernel inside a
bubblewrap sandbox; the results are merged into the course gradebook with nbgrader's API.

Modules: ``sandbox`` (kernel sandbox and dead-kernel recovery, loaded by nbgrader inside the
workers), ``submissions`` (find, repair and normalise submitted notebooks), ``merge`` (copy a
student's grades from one gradebook into another), ``runner`` (the class run: workers, shards,
progress, summary) and ``cli`` (the ``grade`` and ``grade-merge`` subcommands).
"""
