# Sourced by the recording scripts: `lab_up C S NET` makes two network
# namespaces, C (NET.1) and S (NET.2), joined by a veth pair; `lab_down`
# deletes them and stops the script's background jobs. No traffic leaves
# them.

lab_up() {
  LAB_C=$1
  LAB_S=$2
  ip netns add "$LAB_C"
  ip netns add "$LAB_S"
  ip -n "$LAB_C" link set lo up
  ip -n "$LAB_S" link set lo up
  ip -n "$LAB_C" link add veth0 type veth peer name veth1 netns "$LAB_S"
  ip -n "$LAB_C" addr add "$3.1/24" dev veth0
  ip -n "$LAB_S" addr add "$3.2/24" dev veth1
  ip -n "$LAB_C" link set veth0 up
  ip -n "$LAB_S" link set veth1 up
}

lab_down() {
  jobs -p | xargs -r kill 2>/dev/null || true
  ip netns del "$LAB_C" 2>/dev/null || true
  ip netns del "$LAB_S" 2>/dev/null || true
}
