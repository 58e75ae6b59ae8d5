
2.0"

Kubernetesv1.32.0-milo-sandbox