"""Dagster Definitions: jobs, schedules and sensors, all built from the sync configuration."""
