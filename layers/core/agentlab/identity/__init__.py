"""People: sign-in through Amazon Cognito (tokens issued by the pool, verified here against its JWKS)."""
