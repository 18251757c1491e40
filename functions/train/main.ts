// Placeholder written by the infra engineer so the trainer image has an entry point; the functions
// engineer replaces this file with the real Batch job entry (reads env DATASET, BUCKET, JOB_ID).
throw new Error('not wired yet');
