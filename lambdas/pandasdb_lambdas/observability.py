"""Structured JSON logs and CloudWatch embedded-metric-format metrics, shared by all routes.

Example
-------
>>> logger.service
'pandasdb'
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="pandasdb")
metrics = Metrics(namespace="pandasdb", service="api")
