package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotRunning is returned by Process methods that need a live process.
var ErrNotRunning = errors.New("chaos: process not running")

// ProcessSpec says how to run a Process.
type ProcessSpec struct {
	// Name names the process in logs and errors, and its log file
	// (Dir/Name.log).
	Name string
	// Dir is the working directory and where the log file goes.
	Dir string
	// Path and Args are the command; Env is added to the environment.
	Path string
	Args []string
	Env  []string
	// Ready reports whether the process serves; StartProcess and Restart
	// poll it until it returns nil. Nil means started is ready.
	Ready func(ctx context.Context) error
	// Logger receives the harness's notes (starts, exits). Nil: discarded.
	Logger *slog.Logger
}

// Process is one child process, in its own process group so that a
// signal sent to it reaches nothing else. Its stdout and stderr are
// appended to one log file, across restarts.
type Process struct {
	spec    ProcessSpec
	logPath string
	log     *slog.Logger

	mu         sync.Mutex
	pid        int
	done       chan struct{} // closed when the current run exited; nil before the first
	stopping   bool          // the current run was asked to end: its exit is expected
	paused     bool
	exitErr    error // how the last run ended
	unexpected error // the last exit nobody asked for
}

// StartProcess starts spec's command and waits until spec.Ready passes.
// If it does not pass before ctx ends, or the process exits first, the
// process is killed and the error carries the tail of its log.
func StartProcess(ctx context.Context, spec ProcessSpec) (*Process, error) {
	if spec.Name == "" || spec.Path == "" {
		return nil, errors.New("chaos: ProcessSpec needs Name and Path")
	}
	log := spec.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Process{spec: spec, logPath: filepath.Join(spec.Dir, spec.Name+".log"), log: log.With("process", spec.Name)}
	if err := p.start(ctx, spec.Args); err != nil {
		return nil, err
	}
	return p, nil
}

// Name is the spec's name.
func (p *Process) Name() string { return p.spec.Name }

// LogPath is the file the process's output goes to.
func (p *Process) LogPath() string { return p.logPath }

// Pid is the process id of the current (or last) run.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// Running reports whether the process is alive (a paused one is).
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runningLocked()
}

func (p *Process) runningLocked() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Paused reports whether the process is stopped by Pause.
func (p *Process) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && p.runningLocked()
}

// UnexpectedExit is how the last run that ended on its own (not by Kill or
// Terminate) ended, or nil if none did.
func (p *Process) UnexpectedExit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unexpected
}

// Kill sends SIGKILL and waits until the process is gone. It does nothing
// to a process that is not running.
func (p *Process) Kill() {
	done, err := p.signalStopping(syscall.SIGKILL)
	if err != nil {
		return
	}
	<-done
}

// Pause stops the process with SIGSTOP: it holds its sockets and state but
// runs no code, as a long GC pause or a frozen VM would.
func (p *Process) Pause() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.signalLocked(syscall.SIGSTOP); err != nil {
		return err
	}
	p.paused = true
	return nil
}

// Resume continues a paused process with SIGCONT.
func (p *Process) Resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.signalLocked(syscall.SIGCONT); err != nil {
		return err
	}
	p.paused = false
	return nil
}

// Terminate asks the process to stop (SIGTERM) and waits for it; if ctx
// ends first it is killed. It returns nil if the process stopped by itself
// with status 0 (or was not running), and otherwise says how it ended.
func (p *Process) Terminate(ctx context.Context) error {
	done, err := p.signalStopping(syscall.SIGTERM)
	if errors.Is(err, ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	// A stopped process keeps SIGTERM pending until it runs again.
	p.mu.Lock()
	_ = p.signalLocked(syscall.SIGCONT)
	p.paused = false
	p.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		_, _ = p.signalStopping(syscall.SIGKILL)
		<-done
		return fmt.Errorf("chaos: %s did not stop after SIGTERM, killed: %w", p.spec.Name, ctx.Err())
	}
	p.mu.Lock()
	exitErr := p.exitErr
	p.mu.Unlock()
	if exitErr != nil {
		return fmt.Errorf("chaos: %s after SIGTERM: %w; log:\n%s", p.spec.Name, exitErr, p.LogTail(10))
	}
	return nil
}

// Restart starts the same command again (same flags, so the same ports)
// and waits until it is ready, as StartProcess does. The process must not
// be running.
func (p *Process) Restart(ctx context.Context) error {
	if p.Running() {
		return fmt.Errorf("chaos: restart %s: still running", p.spec.Name)
	}
	return p.start(ctx, p.spec.Args)
}

// RestartWith is Restart with extra arguments after the spec's, for this
// run only: a later Restart runs the spec's command as it was.
func (p *Process) RestartWith(ctx context.Context, extra ...string) error {
	if p.Running() {
		return fmt.Errorf("chaos: restart %s: still running", p.spec.Name)
	}
	return p.start(ctx, append(slices.Clip(p.spec.Args), extra...))
}

// LogTail returns the last n lines of the process's log.
func (p *Process) LogTail(n int) string {
	const maxTail = 256 << 10
	f, err := os.Open(p.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxTail {
		_, _ = f.Seek(-maxTail, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// signalStopping marks the current run as asked to end, then signals it.
func (p *Process) signalStopping(sig syscall.Signal) (<-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.runningLocked() {
		return nil, ErrNotRunning
	}
	p.stopping = true
	if err := p.signalLocked(sig); err != nil {
		return nil, err
	}
	return p.done, nil
}

// signalLocked sends sig to the process's group (its pgid is its pid).
func (p *Process) signalLocked(sig syscall.Signal) error {
	if !p.runningLocked() {
		return fmt.Errorf("%w: %s", ErrNotRunning, p.spec.Name)
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("chaos: signal %v to %s: %w", sig, p.spec.Name, err)
	}
	return nil
}

func (p *Process) start(ctx context.Context, args []string) error {
	if err := p.spawn(args); err != nil {
		return err
	}
	if err := p.waitReady(ctx); err != nil {
		p.Kill()
		return err
	}
	return nil
}

// spawn starts one run and the goroutine that notices its exit; that
// goroutine ends when the process does, which Kill and Terminate force.
func (p *Process) spawn(args []string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runningLocked() {
		return fmt.Errorf("chaos: start %s: already running", p.spec.Name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chaos: start %s: %w", p.spec.Name, err)
	}
	defer f.Close() // the child has its own copy
	// Only extra arguments are logged: the spec's are in every start, and
	// a readiness check may look for a line of the process's own output.
	extra := ""
	if len(args) > len(p.spec.Args) {
		extra = " with extra arguments " + strings.Join(args[len(p.spec.Args):], " ")
	}
	fmt.Fprintf(f, "--- chaos: %s start %s%s\n", time.Now().Format(time.RFC3339Nano), p.spec.Name, extra)
	cmd := exec.Command(p.spec.Path, args...)
	cmd.Dir = p.spec.Dir
	cmd.Env = append(childEnv(), p.spec.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("chaos: start %s: %w", p.spec.Name, err)
	}
	done := make(chan struct{})
	p.pid, p.done, p.stopping, p.paused, p.exitErr = cmd.Process.Pid, done, false, false, nil
	p.log.Debug("started", "pid", p.pid)
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		if !p.stopping {
			p.unexpected = fmt.Errorf("chaos: %s (pid %d) exited unexpectedly: %v", p.spec.Name, cmd.Process.Pid, err)
			p.log.Warn("exited unexpectedly", "pid", cmd.Process.Pid, "err", err)
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func (p *Process) waitReady(ctx context.Context) error {
	if p.spec.Ready == nil {
		return nil
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	var last error
	for {
		if last = p.spec.Ready(ctx); last == nil {
			return nil
		}
		select {
		case <-done:
			p.mu.Lock()
			err := p.exitErr
			p.mu.Unlock()
			return fmt.Errorf("chaos: %s exited while starting (%v); log:\n%s", p.spec.Name, err, p.LogTail(20))
		case <-ctx.Done():
			return fmt.Errorf("chaos: %s not ready: %w (last: %v); log:\n%s", p.spec.Name, ctx.Err(), last, p.LogTail(20))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// childEnv is the environment without CPGW_ variables: cpgw reads its
// flags from them, and the harness passes every flag explicitly.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CPGW_") {
			env = append(env, kv)
		}
	}
	return env
}
