"""CloudFrontBackend: invalidations through boto3's create_invalidation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from .base import Batch, Kind, PurgeBackend, PurgeFailed, encoded

# Invalidation paths one distribution may have in progress at a time, and
# wildcard paths among them; one request may hold them all.
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/InvalidationLimits.html
MAX_PATHS_IN_FLIGHT = 3000
MAX_WILDCARDS_IN_FLIGHT = 15
# "The maximum length of a path is 4,000 characters"; "*" only at the end.
# https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/invalidation-specifying-objects.html
MAX_PATH_LENGTH = 4000

# Error codes that mean "too much at once, try later" rather than "wrong request".
# https://docs.aws.amazon.com/cloudfront/latest/APIReference/API_CreateInvalidation.html#API_CreateInvalidation_Errors
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyInvalidationsInProgress", "RequestLimitExceeded", "SlowDown"}
)


class CloudFrontBackend(PurgeBackend):
    """Invalidates the URLs' paths in one CloudFront distribution.

    Each batch's CallerReference is its Batch.key (run id, batch number and a
    digest of its paths), so a retry or a resume of a batch CloudFront already
    accepted returns that invalidation instead of creating, and billing, another.
    Credentials come from the options or, when they are unset, boto3's usual
    chain (environment, shared files, instance role).
    """

    default_batch_size = MAX_PATHS_IN_FLIGHT
    max_batch_size = MAX_PATHS_IN_FLIGHT
    # TooManyInvalidationsInProgress clears only as earlier invalidations
    # complete: wait longer (about two minutes in all, with the default delays).
    default_max_attempts = 8
    supports_prefixes = True
    requires = ("boto3",)
    extra = "cloudfront"

    def __init__(
        self,
        *,
        distribution_id: str,
        region_name: str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        profile_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.distribution_id = self._str_option("distribution_id", distribution_id)
        for option, value in (
            ("region_name", region_name),
            ("endpoint_url", endpoint_url),
            ("aws_access_key_id", aws_access_key_id),
            ("aws_secret_access_key", aws_secret_access_key),
            ("aws_session_token", aws_session_token),
            ("profile_name", profile_name),
        ):
            if value is not None:
                self._str_option(option, value, secret=option.startswith("aws_"))
        if (aws_access_key_id is None) != (aws_secret_access_key is None):
            self.option_error("aws_access_key_id", "and 'aws_secret_access_key' must be given together, or neither")
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self._credentials = {
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": aws_secret_access_key,
            "aws_session_token": aws_session_token,
            "profile_name": profile_name,
        }
        self._client: Any = None

    @property
    def client(self) -> Any:
        """The boto3 CloudFront client, made on first use so that importing the backend needs no boto3."""
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise PurgeFailed("CloudFrontBackend needs boto3: pip install 'symlinkmirror[cloudfront]'") from exc
            session = boto3.session.Session(**{k: v for k, v in self._credentials.items() if v is not None})
            # Our own retries (logged, capped, resumable) replace botocore's silent ones.
            config = Config(retries={"total_max_attempts": 1}, connect_timeout=self.timeout, read_timeout=self.timeout)
            self._client = session.client(
                "cloudfront", region_name=self.region_name, endpoint_url=self.endpoint_url, config=config
            )
        return self._client

    def prepare(self, item: str, kind: Kind) -> str:
        parts = urlsplit(encoded(item))
        path = parts.path or "/"
        if not path.startswith("/"):
            raise ValueError("a CloudFront path must start with '/'")
        if parts.query:
            path += "?" + parts.query
        # "URL-encode ... unsafe characters as defined in RFC 1738" (the page
        # above): all but "~" already are, and CloudFront refuses a literal "~"
        # with InvalidArgument, failing the whole batch (aws/aws-sdk#525).
        path = path.replace("~", "%7E")
        if kind == Kind.PREFIX:
            path = path.rstrip("*") + "*"
        elif "*" in path:
            # CloudFront reads "*" as a wildcard and refuses one before the end:
            # a name holding one is invalidated by a wildcard up to it.
            path = path[: path.index("*") + 1]
        if len(path) > MAX_PATH_LENGTH:
            raise ValueError(f"its path is longer than CloudFront's {MAX_PATH_LENGTH} characters")
        return path

    def group(self, items: Sequence[str], kind: Kind) -> list[tuple[str, ...]]:
        """Batches of at most batch_size paths, of which at most 15 wildcards."""
        batches: list[tuple[str, ...]] = []
        current: list[str] = []
        wildcards = 0
        for path in items:
            wildcard = path.endswith("*")
            if current and (len(current) == self.batch_size or (wildcard and wildcards == MAX_WILDCARDS_IN_FLIGHT)):
                batches.append(tuple(current))
                current, wildcards = [], 0
            current.append(path)
            wildcards += wildcard
        if current:
            batches.append(tuple(current))
        return batches

    def billed_paths(self, batch: Batch) -> int:
        # Each path is billed, a wildcard as one path, whatever it matches.
        return len(batch.items)

    def purge_batch(self, batch: Batch) -> None:
        client = self.client
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        try:
            client.create_invalidation(
                DistributionId=self.distribution_id,
                InvalidationBatch={
                    "Paths": {"Quantity": len(batch.items), "Items": list(batch.items)},
                    "CallerReference": batch.key,
                },
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            retryable = code in THROTTLING_CODES or status == 429 or status >= 500
            raise PurgeFailed(
                f"CloudFront answered {code or status}: {error.get('Message', exc)}", retryable=retryable
            ) from exc
        except (BotoConnectionError, HTTPClientError) as exc:  # cannot connect, timed out, connection dropped
            raise PurgeFailed(f"cannot reach CloudFront: {exc}", retryable=True) from exc
        except BotoCoreError as exc:  # no credentials, no region...: waiting would not help
            raise PurgeFailed(f"CloudFront cannot be called: {exc}") from exc

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
