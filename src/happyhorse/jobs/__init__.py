"""Jobs: statuses and transitions (``status``), row views (``model``), the one
writer of job rows (``queue.JobQueue``) and its reads (``queries``)."""
