"""The course as data: assignment and rubric schemas, the catalog of assignments on disk, calibration
records, skeleton generation, the course secret."""
