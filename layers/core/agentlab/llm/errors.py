"""Provider errors, classified by what the caller should do next."""


class ModelError(Exception):
    """A permanent failure (bad request, authentication, validation): retrying or switching model will not help."""


class InvalidModelRef(ModelError, ValueError):
    """A model reference that names no known provider; also a ValueError so config validators can raise it."""


class ModelThrottled(ModelError):
    """A transient failure (throttling, service unavailable, timeout) that the provider's own retries did not clear."""


class ModelUnavailable(ModelError):
    """This model cannot serve the request (not found, not enabled, no access); another model may."""


class AllModelsFailed(ModelError):
    """Every model in the fallback list was unavailable."""
