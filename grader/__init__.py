"""Grader: an autograder and assignment harness for machine-learning courses.

The grading pipeline reads from the layout:
intake -> workspace -> sandbox -> parse -> score -> report, joined in pipeline.py.
"""

__version__ = "0.1.0"
