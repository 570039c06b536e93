"""Where agent-generated Python runs: sessions that keep state between cells, under limits, in a private workspace.

The kernel module (agentlab.sandbox.kernel) is also started inside the sandbox container, so this package imports
nothing on its own: take the pieces from their modules (models, base, local).
"""
