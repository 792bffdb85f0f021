// Command dubbogo is a dubbo-go v1.5.9 peer for podreg's interop tests. It
// uses dubbo-go's own Kubernetes registry through the calls a dubbo-go
// application makes (config.ServiceConfig.Export and registry.Protocol.Refer
// build the same URLs), so the tests talk to the real thing, not a model of it.
//
//	dubbogo provider --interface com.example.Echo[,more] --port 20000 [--methods Echo,Ping] [--protocol dubbo] [--group g] [--version v] [--param k=v]...
//	dubbogo consumer --interface com.example.Echo [--protocol dubbo] [--group g] [--version v]
//
// It runs "in a pod" the only way dubbo-go's registry allows: in-cluster
// config (KUBERNETES_SERVICE_HOST/PORT and the service-account files), the pod
// from HOSTNAME and NAMESPACE, consumers also DUBBO_NAMESPACE, and the
// advertised address from DUBBO_IP_TO_REGISTRY.
//
// stdout carries one JSON object a line, for the tests:
//
//	{"event":"registered","urls":[...]}                     provider, once every URL is written
//	{"event":"ready"}                                        consumer, subscribed and its pod cache synced
//	{"event":"service","action":"add","protocol":...}       consumer, one per *registry.ServiceEvent
//
// Logs (dubbo-go's included) go to stderr. SIGTERM or SIGINT ends it: dubbo-go
// v1.5.9's Kubernetes registry has no UnRegister, so nothing is cleaned up.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apache/dubbo-go/common"
	"github.com/apache/dubbo-go/common/constant"
	"github.com/apache/dubbo-go/common/extension"
	"github.com/apache/dubbo-go/common/logger"
	"github.com/apache/dubbo-go/registry"
	_ "github.com/apache/dubbo-go/registry/kubernetes"
)

var (
	outMu sync.Mutex
	out   = json.NewEncoder(os.Stdout)
)

// emit writes one JSON line on stdout; events come from several goroutines.
func emit(v map[string]interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(v); err != nil {
		log.Fatalf("dubbogo: stdout: %v", err)
	}
}

// syncedLogger sends dubbo-go's logs to stderr and notices the one line that
// says the consumer's pod informers have synced: dubbo-go exposes no other
// signal, and "ready" must mean events from now on reach the listener.
type syncedLogger struct {
	l      *log.Logger
	debug  bool
	once   sync.Once
	synced chan struct{}
}

const syncedMessage = "kubernetes registry-controller running" // remoting/kubernetes/registry_controller.go run()

func (s *syncedLogger) log(level string, msg string) { s.l.Printf("%s %s", level, msg) }

func (s *syncedLogger) Info(args ...interface{}) { s.log("INFO", fmt.Sprint(args...)) }

func (s *syncedLogger) Warn(args ...interface{}) { s.log("WARN", fmt.Sprint(args...)) }

func (s *syncedLogger) Error(args ...interface{}) { s.log("ERROR", fmt.Sprint(args...)) }

func (s *syncedLogger) Fatal(args ...interface{}) { s.l.Fatal(args...) }

func (s *syncedLogger) Debug(args ...interface{}) {
	if s.debug {
		s.log("DEBUG", fmt.Sprint(args...))
	}
}

func (s *syncedLogger) Infof(f string, args ...interface{}) {
	if strings.HasPrefix(f, syncedMessage) {
		s.once.Do(func() { close(s.synced) })
	}
	s.log("INFO", fmt.Sprintf(f, args...))
}

func (s *syncedLogger) Warnf(f string, args ...interface{}) { s.log("WARN", fmt.Sprintf(f, args...)) }

func (s *syncedLogger) Errorf(f string, args ...interface{}) { s.log("ERROR", fmt.Sprintf(f, args...)) }

func (s *syncedLogger) Fatalf(f string, args ...interface{}) { s.l.Fatalf(f, args...) }

func (s *syncedLogger) Debugf(f string, args ...interface{}) {
	if s.debug {
		s.log("DEBUG", fmt.Sprintf(f, args...))
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type options struct {
	interfaces []string
	protocol   string
	port       string
	methods    []string
	group      string
	version    string
	params     map[string]string
}

func parse(mode string, args []string) options {
	fs := flag.NewFlagSet(mode, flag.ExitOnError)
	ifaces := fs.String("interface", "", "interface name(s), comma separated")
	protocol := fs.String("protocol", "dubbo", "protocol")
	port := fs.Int("port", 20000, "port (provider)")
	methods := fs.String("methods", "Echo,Ping", "methods, comma separated (provider)")
	group := fs.String("group", "", "group")
	version := fs.String("version", "", "version")
	var params multiFlag
	fs.Var(&params, "param", "k=v URL parameter, repeatable (a ServiceConfig's params)")
	_ = fs.Parse(args)
	if *ifaces == "" {
		log.Fatalf("dubbogo %s: --interface is required", mode)
	}
	o := options{
		interfaces: strings.Split(*ifaces, ","),
		protocol:   *protocol,
		port:       strconv.Itoa(*port),
		methods:    strings.Split(*methods, ","),
		group:      *group,
		version:    *version,
		params:     map[string]string{},
	}
	for _, p := range params {
		i := strings.Index(p, "=")
		if i <= 0 {
			log.Fatalf("dubbogo %s: --param %q is not k=v", mode, p)
		}
		o.params[p[:i]] = p[i+1:]
	}
	return o
}

// openRegistry does what registry.Protocol does with a `kubernetes` registry
// config: the registry URL carries the role; its address is unused (in-cluster config).
func openRegistry(role int) registry.Registry {
	address := os.Getenv("KUBERNETES_SERVICE_HOST") + ":" + os.Getenv("KUBERNETES_SERVICE_PORT")
	regURL, err := common.NewURL("kubernetes://"+address,
		common.WithParamsValue(constant.ROLE_KEY, strconv.Itoa(role)),
		common.WithParamsValue(constant.REGISTRY_KEY, "kubernetes"),
	)
	if err != nil {
		log.Fatalf("dubbogo: registry URL: %v", err)
	}
	reg, err := extension.GetRegistry("kubernetes", regURL)
	if err != nil {
		log.Fatalf("dubbogo: kubernetes registry: %v", err)
	}
	return reg
}

// baseParams are what ServiceConfig/ReferenceConfig.getUrlMap always set
// (empty values are dropped by dubbo-go when it writes the URL).
func baseParams(o options, iface string, role int) url.Values {
	v := url.Values{}
	for k, val := range o.params {
		v.Set(k, val)
	}
	v.Set(constant.INTERFACE_KEY, iface)
	v.Set(constant.TIMESTAMP_KEY, strconv.FormatInt(time.Now().Unix(), 10))
	v.Set(constant.GROUP_KEY, o.group)
	v.Set(constant.VERSION_KEY, o.version)
	v.Set(constant.ROLE_KEY, strconv.Itoa(role))
	v.Set(constant.SIDE_KEY, common.RoleType(role).Role())
	return v
}

func provider(o options) {
	reg := openRegistry(common.PROVIDER)
	var urls []map[string]interface{}
	for _, iface := range o.interfaces {
		// As ServiceConfig.Export builds its URL (no Ip: Register takes DUBBO_IP_TO_REGISTRY).
		u := common.NewURLWithOptions(
			common.WithPath(iface),
			common.WithProtocol(o.protocol),
			common.WithPort(o.port),
			common.WithParams(baseParams(o, iface, common.PROVIDER)),
			common.WithMethods(o.methods),
		)
		if err := reg.Register(u); err != nil {
			log.Fatalf("dubbogo provider: Register(%s): %v", u, err)
		}
		urls = append(urls, urlJSON(u))
	}
	// pid: dubbo-go writes it into the URL (processURL), not into u.
	emit(map[string]interface{}{"event": "registered", "pod": os.Getenv("HOSTNAME"), "namespace": os.Getenv("NAMESPACE"), "pid": os.Getpid(), "urls": urls})
}

type printingListener struct{}

func (printingListener) Notify(ev *registry.ServiceEvent) { emit(eventJSON(ev)) }
func (printingListener) NotifyAll(evs []*registry.ServiceEvent, done func()) {
	for _, ev := range evs {
		emit(eventJSON(ev))
	}
	if done != nil {
		done()
	}
}

func consumer(o options, synced <-chan struct{}) {
	if len(o.interfaces) != 1 {
		log.Fatalf("dubbogo consumer: one --interface")
	}
	iface := o.interfaces[0]
	reg := openRegistry(common.CONSUMER)
	// As ReferenceConfig.Refer builds its URL, and registry.Protocol.Refer
	// uses it: the directory subscribes in a goroutine, then the consumer registers.
	u := common.NewURLWithOptions(
		common.WithPath(iface),
		common.WithProtocol(o.protocol),
		common.WithParams(baseParams(o, iface, common.CONSUMER)),
		common.WithParamsValue(constant.BEAN_NAME_KEY, iface),
	)
	go func() {
		if err := reg.Subscribe(u, printingListener{}); err != nil {
			log.Fatalf("dubbogo consumer: Subscribe(%s): %v", u, err)
		}
	}()
	if err := reg.Register(u); err != nil {
		log.Fatalf("dubbogo consumer: Register(%s): %v", u, err)
	}
	select {
	case <-synced:
	case <-time.After(2 * time.Minute):
		log.Fatalf("dubbogo consumer: the pod informers did not sync in 2 minutes")
	}
	emit(map[string]interface{}{"event": "ready", "pod": os.Getenv("HOSTNAME"), "namespace": os.Getenv("NAMESPACE"), "interface": iface})
}

func urlJSON(u *common.URL) map[string]interface{} {
	params := map[string]string{}
	u.RangeParams(func(k, v string) bool {
		params[k] = v
		return true
	})
	port, err := strconv.Atoi(u.Port)
	var p interface{} = u.Port
	if err == nil {
		p = port
	}
	return map[string]interface{}{
		"protocol":  u.Protocol,
		"ip":        u.Ip,
		"port":      p,
		"interface": u.Service(),
		"path":      u.Path,
		"params":    params,
	}
}

func eventJSON(ev *registry.ServiceEvent) map[string]interface{} {
	m := urlJSON(ev.Service)
	m["event"] = "service"
	m["action"] = ev.Action.String() // remoting.EventType: add, delete, update
	return m
}

func main() {
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if len(os.Args) < 2 || (os.Args[1] != "provider" && os.Args[1] != "consumer") {
		fmt.Fprintln(os.Stderr, "usage: dubbogo provider|consumer --interface NAME [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	// dubbo-go's logger package already scanned os.Args for -logConf in its
	// init() and complained on stderr about our flags ("Usage of log"): harmless.
	o := parse(mode, os.Args[2:])
	l := &syncedLogger{l: log.New(os.Stderr, "dubbo-go ", log.LstdFlags|log.Lmicroseconds), debug: os.Getenv("DUBBOGO_DEBUG") != "", synced: make(chan struct{})}
	logger.SetLogger(l)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if mode == "provider" {
		provider(o)
	} else {
		consumer(o, l.synced)
	}
	sig := <-sigs
	log.Printf("dubbogo %s: %s, exiting", mode, sig)
	os.Exit(0)
}
