"""Database tables shared by the API and the workers ("models" means SQL models here)."""

from models.base import Base
from models.datasets import Dataset
from models.login_links import LoginLink
from models.response_cache import CachedResponse
from models.tables import ApiKey, Job, JobEvent, MetricChunk, MetricSeries, Run, Shard
from models.webhooks import JobWebhook, WebhookDelivery
from models.workers import WorkerRecord

__all__ = ["ApiKey", "Base", "CachedResponse", "Dataset", "Job", "JobEvent", "MetricChunk", "MetricSeries",
           "JobWebhook", "LoginLink", "Run", "Shard", "WebhookDelivery", "WorkerRecord"]
