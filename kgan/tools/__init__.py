"""What people do with a trained run: sample, video, eval (and its metrics), dream, and the
run summaries of `kgan runs` and `kgan info`."""
