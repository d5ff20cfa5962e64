"""pandasdb's infrastructure as a Pulumi program: one ComponentResource per concern,
composed by :func:`infra.program.build`."""
