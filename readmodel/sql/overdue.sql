due_at IS NOT NULL AND due_at < {now:DateTime64(9)}
