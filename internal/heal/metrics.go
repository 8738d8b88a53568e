package heal

import "github.com/prometheus/client_golang/prometheus"

var (
	descHealTotal = prometheus.NewDesc("dockerbank_container_heal_total",
		"Healing actions serve ran since it started, by action (restart, recreate, giveup) and outcome (ok, failed, gave-up).",
		[]string{"instance", "service", "action", "outcome"}, nil)
	descGivenUp = prometheus.NewDesc("dockerbank_container_heal_given_up",
		"1 while serve has given up healing the service (it stays unhealthy after the policy's attempts).",
		[]string{"instance", "service"}, nil)
)

// Describe implements prometheus.Collector.
func (h *Healer) Describe(ch chan<- *prometheus.Desc) {
	ch <- descHealTotal
	ch <- descGivenUp
}

// Collect implements prometheus.Collector.
func (h *Healer) Collect(ch chan<- prometheus.Metric) {
	for _, c := range h.Counts() {
		ch <- prometheus.MustNewConstMetric(descHealTotal, prometheus.CounterValue, c.Value, c.Instance, c.Service, c.Action, c.Outcome)
	}
	for _, g := range h.GivenUp() {
		ch <- prometheus.MustNewConstMetric(descGivenUp, prometheus.GaugeValue, 1, g.Instance, g.Service)
	}
}
