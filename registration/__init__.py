"""Patients and the registration workflow."""
