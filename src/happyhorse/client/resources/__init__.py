"""The API's resources, each a sync class and its async twin."""

from happyhorse.client._pagination import AsyncJobPager, JobPager
from happyhorse.client.resources.account import AccountResource, AsyncAccountResource
from happyhorse.client.resources.jobs import AsyncJobs, Jobs
from happyhorse.client.resources.models import AsyncModels, Models
from happyhorse.client.resources.uploads import AsyncUploads, Uploads
from happyhorse.client.resources.videos import AsyncVideos, Videos

__all__ = [
    "AccountResource",
    "AsyncAccountResource",
    "AsyncJobPager",
    "AsyncJobs",
    "AsyncModels",
    "AsyncUploads",
    "AsyncVideos",
    "JobPager",
    "Jobs",
    "Models",
    "Uploads",
    "Videos",
]
