"""Adapters binding the ports to concrete storage: memory, local files + SQLite, S3 + DynamoDB.

The AWS adapters live in :mod:`pandasdb_core.adapters.aws` and import boto3 only when used.
"""
