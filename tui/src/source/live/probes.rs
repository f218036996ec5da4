//! Loads the embedded eBPF object with this kernel's offsets and attaches
//! one program per watched event, choosing the entry point that fits this
//! kernel: a BTF tracepoint where the kernel has BTF, else a raw tracepoint,
//! and for `kfree_skb` the prototype the kernel's BTF declares. A program
//! that cannot load or attach is reported in one line with what the user
//! loses; the verifier's whole log is kept for `--verbose`. The others keep
//! working.

use anyhow::Context as _;
use aya::{
    Btf as AyaBtf, Ebpf, EbpfLoader,
    maps::{Array, MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, ProgramError, RawTracePoint},
};
use btf_rs::Type;
use tcpscope_common::{DropFilter, Offsets};

use crate::source::{ProbeStatus, events::WATCHED};

/// The probes, built by build.rs from probes/ and embedded in the binary.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tcpscope"));

/// How the programs hook the kernel's tracepoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hooks {
    /// BTF tracepoints (tp_btf): the cheaper hook; needs the kernel's BTF.
    Btf,
    /// Raw tracepoints: for kernels without BTF.
    Raw,
}

/// The arguments this kernel's `kfree_skb` tracepoint passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropPrototype {
    /// `(skb, location, reason, rx_sk)`.
    WithRxSk,
    /// `(skb, location, reason)`.
    WithReason,
    /// `(skb, location)`: drops carry no reason.
    WithoutReason,
}

impl DropPrototype {
    /// From the running kernel's BTF: the prototype of the tracepoint's
    /// `btf_trace_kfree_skb` typedef, whose first parameter is the
    /// tracing context. The newest shape when BTF does not say.
    pub fn of_kernel(btf: &btf_rs::Btf) -> Self {
        tracepoint_arguments(btf, "kfree_skb").map_or(Self::WithRxSk, Self::from_arguments)
    }

    fn from_arguments(count: usize) -> Self {
        match count {
            0..=2 => Self::WithoutReason,
            3 => Self::WithReason,
            _ => Self::WithRxSk,
        }
    }

    fn program(self) -> &'static str {
        match self {
            Self::WithRxSk => "kfree_skb",
            Self::WithReason => "kfree_skb_no_rx_sk",
            Self::WithoutReason => "kfree_skb_no_reason",
        }
    }
}

/// How many arguments the tracepoint `event` passes, from the kernel's
/// `btf_trace_<event>` typedef (a pointer to a function whose first
/// parameter is the tracing context).
pub fn tracepoint_arguments(btf: &btf_rs::Btf, event: &str) -> Option<usize> {
    let types = btf
        .resolve_types_by_name(&format!("btf_trace_{event}"))
        .ok()?;
    let Type::Typedef(typedef) = types.into_iter().next()? else {
        return None;
    };
    let Type::Ptr(pointer) = btf.resolve_chained_type(&typedef).ok()? else {
        return None;
    };
    let Type::FuncProto(prototype) = btf.resolve_chained_type(&pointer).ok()? else {
        return None;
    };
    prototype.parameters.len().checked_sub(1)
}

/// What the probes attach with on this kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub hooks: Hooks,
    pub drop_prototype: DropPrototype,
    /// Send every state change as a record, without the healthy path
    /// (`--every-flow`).
    pub every_flow: bool,
}

impl Plan {
    /// The program of the object that watches `event`.
    fn program(self, event: &str) -> String {
        let base = match event {
            "kfree_skb" => self.drop_prototype.program(),
            other => other,
        };
        match self.hooks {
            Hooks::Btf => base.to_string(),
            Hooks::Raw => format!("{base}_raw"),
        }
    }
}

/// The loaded object: dropping it detaches every program.
pub struct Probes {
    pub ebpf: Ebpf,
    pub status: Vec<ProbeStatus>,
    /// The verifier's whole log of each program it refused: `(event, log)`.
    pub verifier_logs: Vec<(&'static str, String)>,
}

impl Probes {
    /// Loads the object with `offsets` and the drop reasons to leave out,
    /// and attaches a program to every watched event as `plan` says.
    /// `btf` is the kernel's own BTF, needed for BTF tracepoints.
    pub fn load(
        offsets: &Offsets,
        drop_filter: &DropFilter,
        plan: Plan,
        btf: Option<&AyaBtf>,
    ) -> anyhow::Result<Self> {
        let every_flow = u8::from(plan.every_flow);
        let mut ebpf = EbpfLoader::new()
            .btf(btf)
            .override_global("OFFSETS", offsets, true)
            .override_global("DROP_FILTER", drop_filter, true)
            .override_global("EVERY_FLOW", &every_flow, true)
            .load(OBJECT)
            .context("loading tcpscope's eBPF object into the kernel")?;
        let mut status = Vec::new();
        let mut verifier_logs = Vec::new();
        for event in &WATCHED {
            let failure = attach(&mut ebpf, &plan.program(event.name), event.name, btf).err();
            status.push(ProbeStatus {
                name: event.name.to_string(),
                failure: failure.as_ref().map(Failure::summary),
            });
            if let Some(Failure::Refused { log, .. }) = failure {
                verifier_logs.push((event.name, log));
            }
        }
        Ok(Self {
            ebpf,
            status,
            verifier_logs,
        })
    }

    /// Takes the ring buffer the programs write records into.
    pub fn take_events(&mut self) -> anyhow::Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .context("the object has no EVENTS map")?;
        RingBuf::try_from(map).context("EVENTS is not a ring buffer")
    }

    /// Tells the probes that events were lost, as they note themselves when
    /// the ring is full: from then on they report socket destructions.
    pub fn mark_lossy(&mut self) {
        if let Some(map) = self.ebpf.map_mut("LOSSY")
            && let Ok(mut lossy) = Array::<_, u32>::try_from(map)
        {
            let _ = lossy.set(0, 1, 0);
        }
    }

    /// Takes the map called `name` out of the object.
    pub fn take_map(&mut self, name: &str) -> anyhow::Result<aya::maps::Map> {
        self.ebpf
            .take_map(name)
            .with_context(|| format!("the object has no {name} map"))
    }

    /// Takes the per-CPU count of records dropped because the ring was full.
    pub fn take_lost(&mut self) -> anyhow::Result<PerCpuArray<MapData, u64>> {
        let map = self
            .ebpf
            .take_map("LOST")
            .context("the object has no LOST map")?;
        PerCpuArray::try_from(map).context("LOST is not a per-CPU array")
    }
}

/// Why one program is not attached.
enum Failure {
    /// The verifier refused it: its error and its whole log.
    Refused { error: String, log: String },
    /// Anything else, in one line.
    Other(String),
}

impl Failure {
    fn summary(&self) -> String {
        match self {
            Self::Refused { error, log } => match verifier_verdict(log) {
                Some(verdict) => format!("the verifier refused it ({error}): {verdict}"),
                None => format!("the verifier refused it ({error})"),
            },
            Self::Other(reason) => reason.clone(),
        }
    }
}

impl From<ProgramError> for Failure {
    fn from(error: ProgramError) -> Self {
        match error {
            ProgramError::LoadError {
                io_error,
                verifier_log,
            } => Self::Refused {
                error: io_error.to_string(),
                log: verifier_log.to_string(),
            },
            other => Self::Other(one_line(&anyhow::Error::from(other))),
        }
    }
}

/// An error and its causes on one line.
fn one_line(error: &anyhow::Error) -> String {
    format!("{error:#}").replace('\n', " ")
}

fn attach(
    ebpf: &mut Ebpf,
    program: &str,
    event: &str,
    btf: Option<&AyaBtf>,
) -> Result<(), Failure> {
    let found = ebpf
        .program_mut(program)
        .ok_or_else(|| Failure::Other(format!("program {program} missing from the object")))?;
    match btf {
        Some(btf) => {
            let hook: &mut BtfTracePoint = found.try_into()?;
            hook.load(event, btf)?;
            hook.attach()?;
        }
        None => {
            let hook: &mut RawTracePoint = found.try_into()?;
            hook.load()?;
            hook.attach(event)?;
        }
    }
    Ok(())
}

/// The line of a verifier log that says why it refused: the last one that
/// is not a statistic or a blank, with the instruction numbers the
/// verifier puts in front trimmed.
pub fn verifier_verdict(log: &str) -> Option<String> {
    let statistics = [
        "processed ",
        "verification time",
        "stack depth",
        "peak_states",
        "mark_read",
        "-- END PROG LOAD LOG --",
    ];
    log.lines()
        .map(str::trim)
        .rev()
        .find(|line| !line.is_empty() && !statistics.iter().any(|s| line.starts_with(s)))
        .map(|line| line.chars().take(200).collect())
}

/// Sum of the per-CPU lost-record counters.
pub fn lost_records(lost: &PerCpuArray<MapData, u64>) -> u64 {
    lost.get(&0, 0)
        .map(|per_cpu| per_cpu.iter().sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_is_the_last_line_that_is_not_a_statistic() {
        let log = "func#0 @0\n0: R1=ctx() R10=fp0\n; let reason: u32 = ctx.arg(2);\n\
                   1: (79) r7 = *(u64 *)(r1 +24)\n\
                   func 'kfree_skb' doesn't have 4-th argument\n\
                   processed 12 insns (limit 1000000) max_states_per_insn 0\n\
                   verification time 31 usec\nstack depth 0\n\n";
        assert_eq!(
            verifier_verdict(log).as_deref(),
            Some("func 'kfree_skb' doesn't have 4-th argument")
        );
        assert_eq!(verifier_verdict("\n\n"), None);
    }

    #[test]
    fn a_refused_program_is_summed_up_in_one_line() {
        let failure = Failure::Refused {
            error: "Permission denied (os error 13)".to_string(),
            log: "0: R1=ctx()\nR1 invalid mem access 'scalar'\nprocessed 3 insns\n".to_string(),
        };
        let summary = failure.summary();
        assert_eq!(
            summary,
            "the verifier refused it (Permission denied (os error 13)): R1 invalid mem access \
             'scalar'"
        );
        assert!(!summary.contains('\n'));
    }

    #[test]
    fn the_drop_prototype_follows_the_argument_count() {
        assert_eq!(
            DropPrototype::from_arguments(2),
            DropPrototype::WithoutReason
        );
        assert_eq!(DropPrototype::from_arguments(3), DropPrototype::WithReason);
        assert_eq!(DropPrototype::from_arguments(4), DropPrototype::WithRxSk);
    }

    /// Whether the object's string table holds `name` as a whole symbol.
    fn object_has_symbol(name: &str) -> bool {
        let wanted = [&[0u8][..], name.as_bytes(), &[0]].concat();
        OBJECT.windows(wanted.len()).any(|window| window == wanted)
    }

    #[test]
    fn each_plan_names_a_program_of_the_object() {
        for hooks in [Hooks::Btf, Hooks::Raw] {
            for drop_prototype in [
                DropPrototype::WithRxSk,
                DropPrototype::WithReason,
                DropPrototype::WithoutReason,
            ] {
                let plan = Plan {
                    hooks,
                    drop_prototype,
                    every_flow: false,
                };
                for event in &WATCHED {
                    let program = plan.program(event.name);
                    assert!(object_has_symbol(&program), "{program} is missing");
                }
            }
        }
        assert!(!object_has_symbol("kfree_skb_nonexistent"));
    }

    /// Kernels before 6.14 give a program and every function it calls 512
    /// bytes of stack in all, and a function LLVM outlined (a closure used
    /// twice, say) adds its frame to the program's. This machine's kernel
    /// gives each program a stack of its own and would load such an object
    /// anyway: only the kernel matrix's older guests would refuse it. So
    /// the object holds the programs and the compiler's mem* builtins and
    /// nothing else, and no program's frame (the deepest slot it touches
    /// through r10, the frame pointer) comes near the limit.
    #[test]
    fn every_program_fits_the_stack_of_older_kernels() {
        let object = aya_obj::Object::parse(OBJECT).expect("the object parses");
        let builtins = ["memcpy", "memmove", "memset"];
        for function in object.functions.values() {
            let program = object.programs.contains_key(&function.name);
            assert!(
                program || builtins.contains(&function.name.as_str()),
                "{} is a function of its own: its frame adds to its caller's",
                function.name
            );
            let deepest = function
                .instructions
                .iter()
                .filter(|insn| insn.dst_reg() == 10 || insn.src_reg() == 10)
                .map(|insn| -i32::from(insn.off))
                .max()
                .unwrap_or(0);
            assert!(
                deepest <= 384,
                "{} uses {deepest} bytes of stack",
                function.name
            );
        }
    }

    #[test]
    fn the_running_kernel_declares_its_drop_prototype() {
        let Ok(btf) = btf_rs::Btf::from_file("/sys/kernel/btf/vmlinux") else {
            eprintln!("skipped: no readable kernel BTF on this machine");
            return;
        };
        let arguments = tracepoint_arguments(&btf, "kfree_skb").expect("btf_trace_kfree_skb");
        assert!((2..=4).contains(&arguments), "{arguments}");
        assert_eq!(
            tracepoint_arguments(&btf, "inet_sock_set_state"),
            Some(3),
            "(sk, oldstate, newstate)"
        );
    }
}
