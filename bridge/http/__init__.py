"""The HTTP side: app assembly, the intake, the endpoint, shared guards, deadlines, health and drain."""
