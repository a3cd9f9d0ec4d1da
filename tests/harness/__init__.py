"""Test harness: an in-process OTLP receiver and helpers to run instrumented programs."""
