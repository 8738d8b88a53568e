// Package schedule is the protect policy model: when an instance is backed
// up and drilled, and how many backup groups retention keeps. It parses the
// schedule syntax of entry.yaml and site.yaml ("daily 02:00", "weekly sun
// 03:00", "every 6h", "off"), merges the policy layers (entry, site default,
// site instance) and computes when a job is next due.
//
// It is pure: values in, values out. It imports only the standard library
// and must not import engine, site, bank or any job package.
package schedule
