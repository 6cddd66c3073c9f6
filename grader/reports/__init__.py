"""What people read: report.json and HTML pages, student pages, the gradebook, LMS exports, Gradescope
results, analytics, plots."""
