// Temporary (branch cdn): lets `sign-url` run before the integrator registers it in `wharf`.
SignURLCommand.main()
