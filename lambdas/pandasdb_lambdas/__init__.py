"""The HTTP adapter: API Gateway proxy events -> pandasdb_core -> responses.

``handler.make_handler`` builds the Lambda handler for a way of finding the caller's store;
``aws`` binds it to S3 + DynamoDB, ``local_server`` (``pandasdb serve``) to local folders.
"""
